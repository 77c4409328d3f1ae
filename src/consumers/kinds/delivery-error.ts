/** A consumer did not acknowledge: the message says why (never a secret; it is redacted before storage). */
export class DeliveryError extends Error {}
