// What a thrown value says, for logs, skip details and reports. Anything can be thrown; only an
// Error has a message worth showing, anything else is shown as text.
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
