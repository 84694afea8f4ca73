// The least-privilege Redis ACL of the service, shared by the security tests.

/**
 * The ACL rules of the `ACL SETUSER` line in docs/operations.md ("Least privilege"). Commands: read,
 * write, transactions and connection commands, minus everything dangerous (INFO, KEYS, CONFIG,
 * CLIENT KILL/LIST, FLUSHALL, …) — plus SELECT (in no granted category), for a URL naming a
 * database other than 0. Keys: read-only on the input prefixes, read-write on our own.
 */
export const ACL_RULES = [
  "on",
  "resetkeys",
  "resetchannels",
  "-@all",
  "+@read",
  "+@write",
  "+@transaction",
  "+@connection",
  "-@dangerous",
  "+select",
  "%R~quantum:*",
  "%R~candles:*",
  "%R~klines:*",
  "~quantum:marketstate:*",
  "~quantum:risk:proposal:*",
  "~quantum:harvest:proposal:*",
  "~quantum:stream:marketstate",
  "~quantum:stream:risk.proposal",
  "~quantum:stream:harvest.proposal",
  "~quantum:calc:*",
];
