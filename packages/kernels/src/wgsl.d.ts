// WGSL sources are bundled as strings by Vite's ?raw suffix.
declare module '*.wgsl?raw' {
  const source: string;
  export default source;
}
