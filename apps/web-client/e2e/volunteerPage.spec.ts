import { test, expect } from '@playwright/test';

test('the volunteer page finds WebGPU in headless Chromium and its test kernel computes correctly', async ({ page }) => {
  await page.goto('/');
  const status = page.locator('#gpu-status');
  await expect(status).not.toHaveAttribute('data-state', 'checking', { timeout: 60_000 });
  await expect(page.locator('#gpu-summary')).toContainText('every result was correct');
  await expect(status).toHaveAttribute('data-state', 'available');
  const binding = await page.locator('dd[data-key="Max storage binding"]').textContent();
  expect(Number.parseInt(binding ?? '', 10)).toBeGreaterThanOrEqual(128);
});
