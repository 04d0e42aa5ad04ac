// A tool call refused or not found, with the API's error code. A module of
// its own so that `acg run` can tell it apart without loading the tool-call
// machinery (tool-calls.ts and what it imports), which only the standalone
// mode (--policy) uses.

export class CallError extends Error {
  constructor(
    readonly code: "bad_request" | "forbidden" | "not_found" | "refused",
    message: string,
  ) {
    super(message);
  }
}
