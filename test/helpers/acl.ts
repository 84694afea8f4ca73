// The least-privilege Redis ACL of the service, shared by the security tests.

/**
 * The ACL rules of the `ACL SETUSER` line in docs/operations.md ("Least privilege"). Commands: read,
 * write, transactions and connection commands, minus everything dangerous (INFO, KEYS, CONFIG,
 * CLIENT KILL/LIST, FLUSHALL, …) — plus SELECT (in no granted category), for a URL naming a
 * database other than 0, and EVAL_RO/EVALSHA_RO for the read-only script of the candle reads (issue 20;
 * the commands inside a script are checked against these same rules). Every other scripting
 * command is taken away (-@scripting): @write alone would grant FUNCTION LOAD/DELETE/FLUSH. Keys: read-only on the input prefixes, read-write on our own.
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
  "-@scripting",
  "+select",
  "+eval_ro",
  "+evalsha_ro",
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
