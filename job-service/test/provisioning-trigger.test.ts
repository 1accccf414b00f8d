/**
 * The stage-1 provisioning trigger: a Cloud Storage notification (the Pub/Sub message shape the
 * pull API returns) becomes one job of the dataset's provisioning image per object generation,
 * which the reconciler launches on its standing approval; anything else is acknowledged unused.
 */
import { JobStatus } from "../src/ports";
import { PROVISIONING_CREATOR, handleProvisioningNotification, provisioningJobUuid, scheduledJobUuid, type PubsubMessage } from "../src/provisioning-trigger";
import { reconcileOnce } from "../src/reconcile";
import { MemoryJobStore } from "../src/store";
import { FakeApprovals, FakeBuilder, FakeClock, FakeLauncher, MemoryBlobs, OTHER_DIGEST, memoryAudit } from "./helpers";
import { PROVISIONING_DIGEST, STAGE2, SUBSCRIPTION, notification, provisioningConfig, scheduledRun } from "./provisioning-fixtures";

const config = provisioningConfig;

function setup(cfg = config()) {
  const clock = new FakeClock();
  const store = new MemoryJobStore({ clock });
  const audit = memoryAudit();
  return { cfg, store, audit, clock, handle: (m: PubsubMessage, sub = SUBSCRIPTION) => handleProvisioningNotification({ config: cfg, store, audit }, sub, m) };
}

describe("handleProvisioningNotification", () => {
  test("given a new stage-2 object, when its notification arrives, then one job of the provisioning image on that dataset only launches on its standing approval", async () => {
    const s = setup();
    const out = await s.handle(notification());

    expect(out.action).toBe("submitted");
    const job = (out as { job: { id: number } }).job;
    const stored = (await s.store.get(job.id))!;
    expect(stored).toMatchObject({ creator: PROVISIONING_CREATOR, datasets: ["insurance"], status: JobStatus.AwaitingApproval, purpose: "stage1-provisioning" });
    expect(stored.build!.imageReference).toBe(`europe-west4-docker.pkg.dev/p/demo-jobs/stage1-provisioning@${PROVISIONING_DIGEST}`);

    // The reconciler launches it with the room-file (standing) approval, no owner signature needed.
    const launcher = new FakeLauncher();
    await reconcileOnce({ config: s.cfg, store: s.store, blobs: new MemoryBlobs(), builder: new FakeBuilder(), approvals: new FakeApprovals(), launcher, clock: s.clock });
    const launched = (await s.store.get(job.id))!;
    expect(launched.status).toBe(JobStatus.VMWaiting);
    expect(launched.decisions.insurance).toMatchObject({ state: "approved", source: "standing" });
    expect(launcher.specs.map((x) => x.imageReference)).toEqual([stored.build!.imageReference]);
  });

  test("given the same notification delivered twice (and concurrently), then one job per object generation; a new generation makes another", async () => {
    const s = setup();
    const first = await s.handle(notification());
    const again = await Promise.all([s.handle(notification()), s.handle(notification())]);
    const next = await s.handle(notification("claims/2026-06.csv", "1717171717171718"));

    expect(again.map((o) => o.action)).toEqual(["duplicate", "duplicate"]);
    expect(next.action).toBe("submitted");
    expect((await s.store.list({ creator: PROVISIONING_CREATOR }, 1, 10)).total).toBe(2);
    expect((first as { job: { uuid: string } }).job.uuid).toBe(provisioningJobUuid(STAGE2, "claims/2026-06.csv", "1717171717171717"));
    expect((first as { job: { uuid: string } }).job.uuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  test.each([
    ["a deletion", { eventType: "OBJECT_DELETE" }, SUBSCRIPTION, /OBJECT_DELETE is not OBJECT_FINALIZE/],
    ["another bucket", { bucketId: "p-demo-health-s2" }, SUBSCRIPTION, /is not insurance's stage-2 bucket/],
    ["no generation", { objectGeneration: "" }, SUBSCRIPTION, /no object and generation/],
    ["attributes that disagree with the payload", { objectId: "other.csv" }, SUBSCRIPTION, /another object/],
    ["a subscription of no dataset", {}, "projects/p/subscriptions/demo-health-provisioning", /belongs to no dataset/],
  ])("given %s, then nothing is submitted and the message is acknowledged with the reason", async (_name, overrides, sub, reason) => {
    const s = setup();
    const out = await s.handle(notification(undefined, undefined, overrides), sub);

    expect(out.action).toBe("ignored");
    expect((out as { reason: string }).reason).toMatch(reason);
    expect((await s.store.list({}, 1, 10)).total).toBe(0);
    expect(s.audit.records.map((r) => r.event)).toEqual(["provisioning-ignored"]);
  });

  test("given a config whose provisioning digest is not a standing approval of the dataset, then no job runs the image", async () => {
    const cfg = config();
    const s = setup({ ...cfg, datasets: cfg.datasets.map((d) => (d.provisioning ? { ...d, standingApprovals: [OTHER_DIGEST] } : d)) });
    const out = await s.handle(notification());
    expect(out).toMatchObject({ action: "ignored", reason: expect.stringMatching(/is not a standing approval of insurance/) });
  });

  test("given a store that fails, then the handler throws (the message is not acknowledged and comes again)", async () => {
    const s = setup();
    s.store.create = async () => {
      throw new Error("firestore unavailable");
    };
    await expect(s.handle(notification())).rejects.toThrow("firestore unavailable");
  });
});

describe("handleProvisioningNotification with a scheduled run (provisioning.schedule)", () => {
  test("given the dataset's schedule fires, then one job of the provisioning image at AwaitingApproval; a redelivery or retry in the same minute makes none, the next run another", async () => {
    const s = setup();
    const first = await s.handle(scheduledRun("2026-06-01T03:00:01.250Z"));
    const again = await s.handle(scheduledRun("2026-06-01T03:00:59.999Z"));
    const next = await s.handle(scheduledRun("2026-06-08T03:00:00.400Z"));

    expect([first.action, again.action, next.action]).toEqual(["submitted", "duplicate", "submitted"]);
    if (first.action !== "submitted") throw new Error(`expected a job, got ${first.action}`);
    const job = first.job;
    expect(job).toMatchObject({ status: JobStatus.AwaitingApproval, datasets: ["insurance"], build: { imageDigest: PROVISIONING_DIGEST } });
    expect(job.uuid).toBe(scheduledJobUuid("insurance", "2026-06-01T03:00Z"));
    // Never the uuid of an object's run: a schedule and an upload at the same time are two runs.
    expect(job.uuid).not.toBe(provisioningJobUuid(STAGE2, "claims/2026-06.csv", "1717171717171717"));
    expect(s.audit.records.filter((r) => r.event === "provisioning-submitted").map((r) => r.scheduled)).toEqual(["2026-06-01T03:00Z", "2026-06-08T03:00Z"]);
  });

  test.each([
    ["another trigger", { manateeTrigger: "manual", dataset: "insurance" }, "2026-06-01T03:00:00Z", /trigger manual is not schedule/],
    ["another dataset", { manateeTrigger: "schedule", dataset: "health" }, "2026-06-01T03:00:00Z", /names dataset health, not insurance/],
    ["no dataset", { manateeTrigger: "schedule" }, "2026-06-01T03:00:00Z", /names dataset \(none\)/],
    ["no publish time", { manateeTrigger: "schedule", dataset: "insurance" }, "", /publish time .* is not RFC 3339/],
  ])("given a scheduled message with %s, then nothing is submitted and it is acknowledged with the reason", async (_name, attributes, publishTime, reason) => {
    const s = setup();
    const out = await s.handle(scheduledRun(publishTime, attributes));
    expect(out).toMatchObject({ action: "ignored", reason: expect.stringMatching(reason) });
    expect((await s.store.list({}, 1, 10)).total).toBe(0);
  });

  test("given a dataset that declares no schedule, when a scheduled-run message arrives on its subscription (anyone who can create a Cloud Scheduler job can publish one), then nothing is submitted", async () => {
    const cfg = config();
    const unscheduled = { ...cfg, datasets: cfg.datasets.map((d) => (d.provisioning ? { ...d, provisioning: { ...d.provisioning, schedule: undefined } } : d)) };
    const s = setup(unscheduled);
    expect(await s.handle(scheduledRun())).toMatchObject({ action: "ignored", reason: "insurance declares no provisioning schedule" });
    expect((await s.store.list({}, 1, 10)).total).toBe(0);
    // An object notification still starts the dataset's run.
    expect((await s.handle(notification())).action).toBe("submitted");
  });

  test("given a config whose provisioning digest is not a standing approval, then a scheduled run submits nothing either", async () => {
    const cfg = config();
    const s = setup({ ...cfg, datasets: cfg.datasets.map((d) => (d.provisioning ? { ...d, standingApprovals: [OTHER_DIGEST] } : d)) });
    expect(await s.handle(scheduledRun())).toMatchObject({ action: "ignored", reason: expect.stringMatching(/is not a standing approval of insurance/) });
  });
});
