export * from "./contract.js";
export * from "./group-options.js";
export * from "./session-storage.js";
export * from "./cli-group.js";
export * from "./gateway-group.js";
export * from "./network.js";
export * from "./tls-proxy.js";
export * from "./topology.js";
