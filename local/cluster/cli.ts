/**
 * `npm run cluster -- up | down | status [--json]`: the one-node Kubernetes cluster (cluster.ts).
 */
import { down, status, up } from "./cluster.js";
import { importImages, nodeImages } from "./images.js";

async function main(argv: string[]): Promise<number> {
  const [cmd] = argv;
  if (cmd === "up") {
    await up({ importNodeImages: (socket) => importImages(socket, nodeImages()) });
    return 0;
  }
  if (cmd === "down") return (await down()).length ? 1 : 0;
  if (cmd === "status") {
    const st = status();
    if (argv.includes("--json")) console.log(JSON.stringify(st, null, 2));
    else {
      console.log(`cluster: ${st.up ? "up" : "not up"}${st.state ? ` since ${st.state.startedAt}` : ""}; node Ready: ${st.nodeReady}`);
      for (const [n, pid] of Object.entries(st.daemons)) console.log(`  ${pid ? "running" : "stopped"} ${n}${pid ? ` (pid ${pid})` : ""}`);
      if (st.state) console.log(`  export KUBECONFIG=${st.state.kubeconfig}`);
      if (st.leftovers.length) console.log(`  left behind: ${st.leftovers.join("; ")}`);
    }
    return st.up ? 0 : 3;
  }
  console.error("usage: npm run cluster -- up | down | status [--json]");
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error((err as Error).message);
    process.exit(1);
  },
);
