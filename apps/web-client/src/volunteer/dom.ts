/** Small DOM helpers shared by the volunteer page's parts. */

/** The element with this id, of this type; a missing one is a bug in index.html, so say which. */
export function byId<T extends HTMLElement | SVGElement = HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (!e) throw new Error(`volunteer page: index.html has no element #${id}`);
  return e as unknown as T;
}

/** Fills a <dl> with term/value rows; each value carries data-key for tests. */
export function fillDetails(dl: HTMLElement, rows: readonly (readonly [string, string])[]): void {
  dl.replaceChildren(...rows.flatMap(([k, v]) => {
    const dt = document.createElement('dt');
    dt.textContent = k;
    const dd = document.createElement('dd');
    dd.textContent = v;
    dd.dataset.key = k;
    return [dt, dd];
  }));
}
