/**
 * Classifies a failed call to a CLI server by asking it: a dead server is 503 naming it; a live
 * server that cannot write its session state (read-only, full, not permitted) is 503 too, since a
 * retry succeeds once it can (readiness reports it), and so is a call whose connection failed under
 * a server that answers again; any other error of a live server is 502.
 */
import type { Backend } from "./backends.js";
import { ApiError, unavailable } from "./errors.js";

/** How a CLI reports that it cannot write its state (errno names and their messages). */
const WRITE_FAILURE = /\b(EACCES|EPERM|EROFS|ENOSPC|EDQUOT)\b|Operation not permitted|Permission denied|Read-only file system|No space left/i;

/**
 * The connection failed, not the request: a connect that was refused or timed out, a call the SDK
 * rejected because it disposed the connection. Nothing reached a live CLI, so a retry can succeed.
 */
const CONNECTION_LOST = /connection (?:is|got) disposed|ECONNREFUSED|did not answer within \d+ ms/i;

/** `onHealth` hears every ping result, so routing can avoid dead servers. */
export async function classifyBackendFailure(backend: Backend, message: string, onHealth?: (backendId: string, ok: boolean) => void): Promise<ApiError> {
  try {
    await backend.ping(1_500);
    onHealth?.(backend.id, true);
    if (CONNECTION_LOST.test(message)) return unavailable("server_unavailable", `CLI server ${backend.id} was unreachable: ${message}`, 1);
    if (WRITE_FAILURE.test(message)) return unavailable("server_unavailable", `CLI server ${backend.id} cannot write session state: ${message}`, 5);
    return new ApiError(502, "cli_error", `CLI server ${backend.id} failed the request: ${message}`);
  } catch (err) {
    onHealth?.(backend.id, false);
    return unavailable("server_unavailable", `CLI server ${backend.id} is unavailable: ${(err as Error).message}`, 2);
  }
}
