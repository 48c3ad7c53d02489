/** The engine needs only uniform [0,1) draws; any seeded generator with next() will do. */
export interface SeededRandomLike {
  next(): number;
}
