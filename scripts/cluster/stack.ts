/**
 * `npm run stack -- up|destroy|output <stack>`: `pulumi up` of a stack in stacks/ against the local
 * cluster, with the real engine driven through the Automation API (engine.ts), since no Node
 * language host is served here. Where the Pulumi CLI has its Node language host, plain
 * `pulumi up --stack <stack>` runs the same program.
 */
import { status } from "../../local/cluster/cluster.js";
import { paths } from "../../local/cluster/layout.js";
import { engineStack } from "./engine.js";

async function main([cmd, stack]: string[]): Promise<void> {
  if (!stack || !["up", "destroy", "output"].includes(cmd ?? "")) throw new Error("usage: npm run stack -- up|destroy|output <stack>   (e.g. local-shared)");
  if (!status().up) throw new Error("the local cluster is not up (fix: npm run cluster -- up)");
  const engine = await engineStack(stack, paths.kubeconfig);
  const log = (l: string) => {
    if (l.trim() && !/^\.+$/.test(l.trim())) console.log(l);
  };
  if (cmd === "up") {
    const out = await engine.up(log);
    console.log(`gatewayUrl: ${String(out.gatewayUrl)}\nthe target (it holds secrets): npm run stack -- output ${stack} > target.json`);
  } else if (cmd === "destroy") await engine.destroy(log);
  else console.log(String((await engine.stack.outputs()).target?.value ?? ""));
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (err: unknown) => {
    console.error((err as Error).message);
    process.exit(1);
  },
);
