/**
 * The stage-1 provisioning trigger: a Cloud Storage notification (the Pub/Sub message shape the
 * pull API returns) becomes one job of the dataset's provisioning image per object generation,
 * which the reconciler launches on its standing approval; anything else is acknowledged unused.
 */
import type { JobServiceConfig } from "../src/config";
import { JobStatus } from "../src/ports";
import { PROVISIONING_CREATOR, handleProvisioningNotification, provisioningJobUuid, type PubsubMessage } from "../src/provisioning-trigger";
import { reconcileOnce } from "../src/reconcile";
import { MemoryJobStore } from "../src/store";
import { FakeApprovals, FakeBuilder, FakeClock, FakeLauncher, MemoryBlobs, OTHER_DIGEST, memoryAudit, testConfig } from "./helpers";

const PROVISIONING_DIGEST = "sha256:" + "5".repeat(64);
const SUBSCRIPTION = "projects/p/subscriptions/demo-insurance-provisioning";
const STAGE2 = "p-demo-insurance-s2";

function config(): JobServiceConfig {
  const base = testConfig();
  return {
    ...base,
    datasets: base.datasets.map((d) =>
      d.name === "insurance"
        ? { ...d, standingApprovals: [PROVISIONING_DIGEST], provisioning: { imageDigest: PROVISIONING_DIGEST, subscription: SUBSCRIPTION, stage2Bucket: STAGE2 } }
        : d,
    ),
  };
}

/** What Cloud Storage publishes for a finalized object (payload format JSON_API_V1). */
function notification(object = "claims/2026-06.csv", generation = "1717171717171717", overrides: Record<string, string> = {}): PubsubMessage {
  const resource = { kind: "storage#object", bucket: STAGE2, name: object, generation, size: "1024", contentType: "text/csv" };
  return {
    messageId: `m-${object}-${generation}`,
    publishTime: "2026-06-01T00:00:00Z",
    data: Buffer.from(JSON.stringify(resource)).toString("base64"),
    attributes: {
      notificationConfig: `projects/_/buckets/${STAGE2}/notificationConfigs/1`,
      eventType: "OBJECT_FINALIZE",
      payloadFormat: "JSON_API_V1",
      bucketId: STAGE2,
      objectId: object,
      objectGeneration: generation,
      eventTime: "2026-06-01T00:00:00Z",
      ...overrides,
    },
  };
}

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
