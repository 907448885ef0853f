/** JSON files bundled by the builder (rspack reads them; tsc only needs their type). */
declare module '*.json' {
  const value: unknown;
  export default value;
}
