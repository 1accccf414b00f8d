/** The access report names the policy's operators as a path to stage-2 data outside attestation. */
import { renderAccessReport } from "../../lib/report/access-report";
import { examplePolicy } from "../util";

const section = (report: string) => report.split("## Who could reach stage-2 data outside the attestation path")[1]?.split("\n## ")[0];

test("given operators in the policy, then the report lists each under who could reach stage-2 data outside the attestation path", () => {
  const body = section(renderAccessReport(examplePolicy({ operators: ["group:platform-admins@example.org", "user:sre@example.org"] })));
  expect(body).toContain("- `group:platform-admins@example.org`\n- `user:sre@example.org`");
  expect(body).toContain("MCR-IAM4");
});

test("given no operators, then the section says no principal may hold an administrative role", () => {
  expect(section(renderAccessReport(examplePolicy()))).toContain("- none in the policy");
});
