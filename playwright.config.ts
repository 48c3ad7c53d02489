import { defineConfig } from '@playwright/test';

/**
 * Browser tests run in Debian's Chromium (apt package `chromium`): Playwright cannot download
 * its own browser here. WebGPU comes from SwiftShader's Vulkan driver, needs
 * --enable-unsafe-webgpu, and only exists on pages from localhost (a secure context).
 */
// PW_PORT lets several test runs share the machine (each gets its own Vite server).
const port = Number(process.env.PW_PORT ?? 5174);

export default defineConfig({
  testDir: '.',
  testMatch: ['apps/web-client/e2e/**/*.spec.ts', 'packages/kernels/test/**/*.spec.ts'],
  timeout: 120_000,
  workers: 1,
  reporter: [['list']],
  use: {
    baseURL: `http://127.0.0.1:${port}`,
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: [
        '--enable-unsafe-webgpu', '--no-sandbox', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
      ],
    },
  },
  webServer: {
    command: `npx vite --port ${port} --strictPort`,
    url: `http://127.0.0.1:${port}`,
    reuseExistingServer: false,
    timeout: 120_000,
  },
});
