/** A tiny line chart of the last round's per-step losses (an inline SVG, no library). */

const SVG_NS = 'http://www.w3.org/2000/svg';
const W = 120, H = 28, PAD = 2;

/** Draws `values` into `svg`, scaled to their own range; non-finite values are left out. */
export function renderSparkline(svg: SVGSVGElement, values: readonly number[]): void {
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  const finite = values.filter(Number.isFinite);
  if (finite.length < 2) return void svg.replaceChildren();
  const lo = Math.min(...finite), hi = Math.max(...finite);
  const span = hi - lo || 1;
  const pts = values
    .map((v, i) => (Number.isFinite(v) ? `${(PAD + (i / (values.length - 1)) * (W - 2 * PAD)).toFixed(1)},${(PAD + ((hi - v) / span) * (H - 2 * PAD)).toFixed(1)}` : ''))
    .filter(Boolean);
  const line = document.createElementNS(SVG_NS, 'polyline');
  line.setAttribute('points', pts.join(' '));
  const title = document.createElementNS(SVG_NS, 'title');
  title.textContent = `loss per step: ${finite[0].toFixed(3)} → ${finite[finite.length - 1].toFixed(3)}`;
  svg.replaceChildren(title, line);
}
