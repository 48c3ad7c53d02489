/**
 * Interpolated Kneser-Ney bigram language model over token ids: the count-based baseline a
 * pretrained transformer has to beat in perplexity on the same tokens.
 *
 *   P(w | v) = max(c(v,w) - D, 0) / c(v)  +  D * N1+(v,*) / c(v) * Pcont(w)
 *   Pcont(w) = (1 - eps) * N1+(*,w) / N1+(*,*)  +  eps / V
 *
 * c(v) counts v as a context, N1+(v,*) is the number of distinct successors of v, N1+(*,w) the
 * number of distinct predecessors of w. The uniform floor eps/V gives every id p > 0, so unseen
 * tokens cost a large but finite loss. An unseen context backs off to Pcont entirely.
 * Every conditional distribution sums to exactly 1 over the vocabulary.
 */

/** Options of {@link BigramModel.fit}. */
export interface BigramModelOptions {
  /** Number of token ids; every id must be in [0, vocabSize). */
  vocabSize: number;
  /** Absolute discount D in (0, 1) (default 0.75). */
  discount?: number;
  /** Weight eps of the uniform floor mixed into the continuation unigram (default 1e-3). */
  uniformWeight?: number;
}

/** A fitted interpolated Kneser-Ney bigram model; immutable once fitted. */
export class BigramModel {
  readonly vocabSize: number;
  readonly discount: number;
  readonly uniformWeight: number;
  /** c(v,w), keyed by v * vocabSize + w (exact in float64 for any realistic vocabulary). */
  private readonly pairCounts: Map<number, number>;
  /** c(v): how often v is followed by any token. */
  private readonly contextCounts: Float64Array;
  /** N1+(v,*): distinct successors of v. */
  private readonly successorTypes: Float64Array;
  /** N1+(*,w): distinct predecessors of w. */
  private readonly predecessorTypes: Float64Array;
  /** N1+(*,*): distinct bigram types. */
  private readonly bigramTypes: number;

  private constructor(
    opts: Required<BigramModelOptions>,
    pairCounts: Map<number, number>,
    contextCounts: Float64Array,
    successorTypes: Float64Array,
    predecessorTypes: Float64Array,
  ) {
    this.vocabSize = opts.vocabSize;
    this.discount = opts.discount;
    this.uniformWeight = opts.uniformWeight;
    this.pairCounts = pairCounts;
    this.contextCounts = contextCounts;
    this.successorTypes = successorTypes;
    this.predecessorTypes = predecessorTypes;
    this.bigramTypes = pairCounts.size;
  }

  /** Counts the bigrams of every sequence (no bigram spans two sequences) and returns the model. */
  static fit(sequences: Iterable<ArrayLike<number>>, opts: BigramModelOptions): BigramModel {
    const vocabSize = opts.vocabSize;
    const discount = opts.discount ?? 0.75;
    const uniformWeight = opts.uniformWeight ?? 1e-3;
    if (!Number.isSafeInteger(vocabSize) || vocabSize < 1) throw new Error(`BigramModel: vocabSize must be a positive integer, got ${vocabSize}`);
    if (!(discount > 0 && discount < 1)) throw new Error(`BigramModel: discount must be in (0, 1), got ${discount}`);
    if (!(uniformWeight > 0 && uniformWeight <= 1)) throw new Error(`BigramModel: uniformWeight must be in (0, 1], got ${uniformWeight}`);

    const pairCounts = new Map<number, number>();
    const contextCounts = new Float64Array(vocabSize);
    const successorTypes = new Float64Array(vocabSize);
    const predecessorTypes = new Float64Array(vocabSize);
    for (const seq of sequences) {
      for (let i = 0; i < seq.length; i++) checkId(seq[i], vocabSize);
      for (let i = 1; i < seq.length; i++) {
        const v = seq[i - 1];
        const w = seq[i];
        const key = v * vocabSize + w;
        const c = pairCounts.get(key);
        if (c === undefined) {
          pairCounts.set(key, 1);
          successorTypes[v]++;
          predecessorTypes[w]++;
        } else {
          pairCounts.set(key, c + 1);
        }
        contextCounts[v]++;
      }
    }
    return new BigramModel({ vocabSize, discount, uniformWeight }, pairCounts, contextCounts, successorTypes, predecessorTypes);
  }

  /** Number of bigram tokens the model was fitted on. */
  get trainingBigrams(): number {
    let total = 0;
    for (const c of this.contextCounts) total += c;
    return total;
  }

  /** Continuation unigram with the uniform floor: the lower-order distribution. */
  private continuationProb(w: number): number {
    const cont = this.bigramTypes > 0 ? this.predecessorTypes[w] / this.bigramTypes : 0;
    // Without any training bigram the model is plain uniform.
    const eps = this.bigramTypes > 0 ? this.uniformWeight : 1;
    return (1 - eps) * cont + eps / this.vocabSize;
  }

  /**
   * P(next | prev). `prev = null` (start of a sequence, no context) gives the continuation unigram.
   */
  prob(prev: number | null, next: number): number {
    checkId(next, this.vocabSize);
    const lower = this.continuationProb(next);
    if (prev === null) return lower;
    checkId(prev, this.vocabSize);
    const cv = this.contextCounts[prev];
    if (cv === 0) return lower;
    const cvw = this.pairCounts.get(prev * this.vocabSize + next) ?? 0;
    const backoffWeight = (this.discount * this.successorTypes[prev]) / cv;
    return Math.max(cvw - this.discount, 0) / cv + backoffWeight * lower;
  }

  /** Natural log of {@link prob}. */
  logProb(prev: number | null, next: number): number {
    return Math.log(this.prob(prev, next));
  }

  /**
   * Perplexity exp(-mean log P(t_i | t_{i-1})) over every token after the first of each sequence,
   * i.e. the tokens a causal LM predicts from a context. Throws if there is nothing to score.
   */
  perplexity(sequences: Iterable<ArrayLike<number>>): number {
    let nll = 0;
    let count = 0;
    for (const seq of sequences) {
      for (let i = 1; i < seq.length; i++) {
        nll -= this.logProb(seq[i - 1], seq[i]);
        count++;
      }
    }
    if (count === 0) throw new Error('BigramModel.perplexity: no bigrams to score (every sequence is shorter than 2 tokens)');
    return Math.exp(nll / count);
  }
}

function checkId(id: number, vocabSize: number): void {
  if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
    throw new Error(`BigramModel: token id ${id} is outside the vocabulary [0, ${vocabSize})`);
  }
}
