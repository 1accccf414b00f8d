/**
 * MCR-SQL1: the job database is reachable on its private IP only. Cloud SQL gives an
 * instance a public IPv4 address unless `ipv4_enabled` is explicitly false.
 */
import { Rule } from "../model";
import { dig, readBool } from "../../analysis/values";

export const sqlPrivateIp: Rule = {
  id: "MCR-SQL1",
  level: "error",
  title: "Cloud SQL instances have no public IP",
  resourceTypes: ["google_sql_database_instance"],
  check(instance) {
    const ipv4 = readBool(dig(instance.config, "settings.ip_configuration.ipv4_enabled"));
    if (ipv4.state === "unknown") {
      return [{ level: "warning", message: "Cannot tell whether the instance has a public IP: settings.ip_configuration.ipv4_enabled is an expression." }];
    }
    if (ipv4.state === "known" && !ipv4.value) return [];
    return [
      {
        message: `The instance has a public IPv4 address (settings.ip_configuration.ipv4_enabled is ${ipv4.state === "absent" ? "not set, which defaults to true" : "true"}). Set ipv4_enabled = false and private_network to the room's VPC (private service access).`,
      },
    ];
  },
};
