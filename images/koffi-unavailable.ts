/**
 * Stand-in for koffi in the bundles: the SDK loads koffi only to host the runtime in-process, which
 * the gateway and the probe never do (they connect over TCP). Any use fails loudly.
 */
const unavailable = (): never => {
  throw new Error("koffi is not bundled: the in-process runtime host is unavailable in this image");
};

export default new Proxy({}, { get: () => unavailable });
