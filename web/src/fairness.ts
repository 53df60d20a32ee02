// Provable fairness recomputed in the browser with WebCrypto, by the algorithm of
// docs/fairness.md: it trusts nothing the server says about a result, only the revealed
// seed, the commitment published before the bet, and the bet's inputs.
const encoder = new TextEncoder();

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", encoder.encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** The 32-bit big-endian words of the stream HMAC(key, base), HMAC(key, base:1), ... */
async function* words(key: string, base: string): AsyncGenerator<number> {
  const hmacKey = await crypto.subtle.importKey("raw", encoder.encode(key), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  for (let round = 0; ; round++) {
    const message = round === 0 ? base : `${base}:${round}`;
    const view = new DataView(await crypto.subtle.sign("HMAC", hmacKey, encoder.encode(message)));
    for (let offset = 0; offset < 32; offset += 4) yield view.getUint32(offset, false);
  }
}

const TWO_32 = 2 ** 32;

/** A uniform integer in [0, n) by rejection sampling (exact: numbers below 2^53). */
export async function uniformInt(key: string, base: string, n: number): Promise<number> {
  const limit = TWO_32 - (TWO_32 % n);
  for await (const word of words(key, base)) {
    if (word < limit) return word % n;
  }
  throw new Error("unreachable: the stream is endless");
}

export interface Segment {
  multiplier: string;
  weight: number;
}

/** The result text ("2.0x") that a seed, client seed and nonce give on a reward table. */
export async function spinResult(serverSeed: string, clientSeed: string, nonce: number, table: Segment[]): Promise<string> {
  const total = table.reduce((sum, segment) => sum + segment.weight, 0);
  let draw = await uniformInt(serverSeed, `${clientSeed}:${nonce}`, total);
  for (const segment of table) {
    // The public table writes each multiplier as its result without the "x".
    if (draw < segment.weight) return `${segment.multiplier}x`;
    draw -= segment.weight;
  }
  throw new Error("unreachable: the draw is below the total weight");
}

export type Verdict =
  | { verified: true; result: string }
  | { verified: false; reason: string };

export async function verifySpin(
  bet: { server_seed: string; server_seed_hash: string; client_seed: string; nonce: number; result: string },
  table: Segment[],
): Promise<Verdict> {
  if ((await sha256Hex(bet.server_seed)) !== bet.server_seed_hash.toLowerCase()) {
    return { verified: false, reason: "the revealed seed does not match the commitment made before the bet" };
  }
  const result = await spinResult(bet.server_seed, bet.client_seed, bet.nonce, table);
  if (result !== bet.result) return { verified: false, reason: `the seed gives ${result}, the server said ${bet.result}` };
  return { verified: true, result };
}

export async function verifyRoom(room: { seed: string; seed_hash: string; bullet_chamber: number }): Promise<Verdict> {
  if ((await sha256Hex(room.seed)) !== room.seed_hash.toLowerCase()) {
    return { verified: false, reason: "the revealed room seed does not match the commitment shown when the room opened" };
  }
  const chamber = 1 + (await uniformInt(room.seed, "chamber", 6));
  if (chamber !== room.bullet_chamber) {
    return { verified: false, reason: `the seed puts the bullet in chamber ${chamber}, the server said ${room.bullet_chamber}` };
  }
  return { verified: true, result: `chamber ${chamber}` };
}
