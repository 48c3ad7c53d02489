/** Progress line; the Node runner echoes every console line starting with `[bench]`. */
export const log = (msg: string) => console.log(`[bench] ${msg}`);
