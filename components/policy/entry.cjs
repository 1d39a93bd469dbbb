/* eslint-disable no-undef -- CommonJS entry by necessity */
// The Pulumi CLI loads a policy pack with require(); the pack itself is ESM TypeScript. Importing
// tsx/esm registers tsx's loader (as `node --import tsx/esm` would), then the pack is imported.
// The CLI's loader awaits the promise that require() returns here.
module.exports = import("tsx/esm").then(() => import("./index.ts"));
