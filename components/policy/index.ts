/**
 * The kit's CrossGuard policy pack: `pulumi preview --policy-pack components/policy`.
 * Platform rules live beside this file, one module per platform, and are registered here.
 */
import { PolicyPack } from "@pulumi/policy";
import { azurePolicies } from "./azure.js";
import { kubernetesPolicies } from "./kubernetes.js";

new PolicyPack("copilot-scale-kit", {
  policies: [
    ...kubernetesPolicies,
    ...azurePolicies,
  ],
});
