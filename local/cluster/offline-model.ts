/**
 * The offline model of the local cluster: the repository's mock model, served on the pod bridge's
 * address so CLI pods reach it (COPILOT_OFFLINE=true, BYOK). Started by `npm run cluster -- up`.
 */
import { startMockModel } from "../mock-model.js";
import { net } from "./layout.js";

const model = await startMockModel({ host: net.bridgeIp, port: net.modelPort, modelName: "mock-model" });
console.log(`offline model on ${model.url}`);
const stop = () => void model.app.close().then(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
