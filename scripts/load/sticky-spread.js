// sticky-spread: counts answers per CLI server from the x-copilot-server header. Each VU owns a
// fixed set of users and cycles through them, so a user answered by two servers is caught. The
// imbalance (max/mean) of hits and of users per server is reported; every server must get traffic.
import { sleep } from "k6";
import exec from "k6/execution";
import { Counter, Rate } from "k6/metrics";
import { answered, api, baseOptions, config, constantVus, gateway, json, params as p, perTag, record, summaryHandler, users, vuIndex } from "./k6-lib.js";
import { checkEphemeral, imbalance } from "./checks.ts";
import { tagged } from "./summary.ts";

const contentOk = new Rate("chat_content_ok");
const headerOk = new Rate("server_header_ok");
const stickyOk = new Rate("sticky_ok");
const hits = new Counter("server_hits");
const usersOn = new Counter("server_users");

export const options = {
  ...baseOptions,
  scenarios: {
    spread: constantVus(p),
  },
  thresholds: {
    sticky_ok: ["rate==1"],
    server_header_ok: ["rate==1"],
    chat_content_ok: ["rate==1"],
    "http_req_duration{name:POST /v1/chat}": [`p(95)<${p.p95Ms}`],
    http_req_failed: ["rate<0.01"],
    // Every server must get traffic; server_users is only kept for the report.
    ...perTag("server", config.servers, { server_hits: ["count>0"], server_users: ["count>=0"] }),
  },
};

const serverOf = {};

export default function () {
  const i = exec.vu.iterationInScenario;
  const user = users[(vuIndex() * p.usersPerVu + (i % p.usersPerVu)) % users.length];
  const prompt = `${user.id}-c${i}`;
  const res = api.chat(gateway(i), user, prompt);
  if (!answered(res, 200, "chat answered 200", user.id)) return;
  record(contentOk, "ephemeral reply is turn 1 of its own prompt", checkEphemeral(prompt, json(res)?.content), user.id);
  const server = res.headers["X-Copilot-Server"];
  headerOk.add(typeof server === "string" && config.servers.includes(server));
  if (typeof server !== "string") return;
  hits.add(1, { server });
  if (serverOf[user.id] === undefined) {
    serverOf[user.id] = server;
    usersOn.add(1, { server });
  }
  const same = serverOf[user.id] === server;
  stickyOk.add(same);
  if (!same) console.warn(`sticky-spread: ${user.id} answered by ${server}, earlier by ${serverOf[user.id]}`);
  sleep(p.thinkMs / 1000);
}

export function spreadReport(data) {
  const hitCounts = {};
  const userCounts = {};
  const h = tagged(data, "server_hits", "server");
  const u = tagged(data, "server_users", "server");
  for (const s of config.servers) {
    hitCounts[s] = h[s]?.count ?? 0;
    userCounts[s] = u[s]?.count ?? 0;
  }
  return {
    report: {
      hitsPerServer: hitCounts,
      usersPerServer: userCounts,
      hitImbalance: imbalance(hitCounts),
      userImbalance: imbalance(userCounts),
    },
  };
}

export const handleSummary = summaryHandler(spreadReport, ["http_req_duration{name:POST /v1/chat}"]);
