export * from "./topologies.js";
export * from "./features.js";
export * from "./target.js";
export * from "./gateway-config.js";
export * from "./deployment.js";
