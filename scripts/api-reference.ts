/**
 * The API reference of manatee-cdktf: the package root (lib/index.ts), built by TypeDoc
 * (`npm run docs`, into docs/api). Composing a room: {@link CleanRoom} (platform stack),
 * {@link CleanRoomWorkloads} (workloads stack), {@link PartyDataPlane} (a consortium party's
 * project), or the ready stacks from {@link createCleanRoomStacks}; what they expose to your own
 * stack: {@link CleanRoomOutputs}, {@link CleanRoomWorkloadsOutputs}, {@link PartyDataPlaneOutputs}.
 *
 * @packageDocumentation
 */
// TypeDoc's entry point only, never imported: the root loads the Kubernetes-side constructs on
// first use and declares them as values of their classes' types, so TypeDoc would document the
// declarations and not the classes. Explicit re-exports shadow `export *`: here they are the classes.
export * from "../lib/index";
export { JobService } from "../lib/constructs/workloads/job-service/workload";
export { JupyterHub } from "../lib/constructs/workloads/jupyterhub";
export { CleanRoomWorkloads } from "../lib/constructs/clean-room-workloads";
export { CleanRoomWorkloadsStack, createCleanRoomStacks } from "../stacks";
