/** Test helper: the HTTP status an authenticator's promise settles to (200, or its ApiError's status). */
import { expect } from "vitest";
import { ApiError } from "../gateway/errors.js";

export async function statusOf(p: Promise<unknown>): Promise<number> {
  try {
    await p;
    return 200;
  } catch (err) {
    expect(err).toBeInstanceOf(ApiError);
    return (err as ApiError).status;
  }
}
