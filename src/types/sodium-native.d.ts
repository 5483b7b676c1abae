// The few libsodium bindings jinqiao calls; sodium-native ships no type declarations.
declare module 'sodium-native' {
  interface Sodium {
    randombytes_buf(buffer: Uint8Array): void;
    crypto_hash_sha512(out: Uint8Array, input: Uint8Array): void;
    /** X25519: out = clamp(scalar)·u; throws when the result is all zero (small-order input). */
    crypto_scalarmult(out: Uint8Array, scalar: Uint8Array, point: Uint8Array): void;
  }
  const sodium: Sodium;
  export default sodium;
}
