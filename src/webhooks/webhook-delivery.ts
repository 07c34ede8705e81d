/** Where a delivery stands: waiting for its next attempt, delivered, or given up after its last. */
export const deliveryStates = ['pending', 'delivered', 'failed'] as const;
export type DeliveryState = (typeof deliveryStates)[number];

/** One announcement to one endpoint, as the outbox keeps it until it is delivered or given up. */
export interface WebhookDelivery {
  id: string;
  event: string;
  url: string;
  /** The JSON body posted, as written in the announcing transaction. */
  payload: string;
  state: DeliveryState;
  attempts: number;
  nextAttemptAt: string;
  lastError: string | null;
  createdAt: string;
  deliveredAt: string | null;
}
