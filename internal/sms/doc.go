// Package sms owns outgoing text messages: the short localised texts of each purpose (Render), the
// senders that hand a message to a provider (Twilio, Webhook) or keep it for developers
// (DevOutbox), and the durable send job (Queue, Worker).
//
// A message travels like this: the code that causes it (a one-time code was issued) calls Queue,
// which renders the text once to validate it, encrypts the template data with a seal.Sealer and
// enqueues a SendJob, inside the caller's transaction when it has one. A Worker on some node later
// opens the data, renders the text again, and sends it through its Sender. A provider's temporary
// failure (HTTP 429, 5xx, a timeout) is returned to the queue, which retries with backoff; a
// permanent refusal (any other 4xx, ErrPermanent) is logged and ends the job. There is no delivery
// record in SQL for text messages: the log and the queue's own job rows are what operators see.
// See docs/adr/0010-sms-delivery.md.
//
// The template data carries one-time codes. The codes are never stored in the clear (the job row
// holds them sealed with AES-256-GCM, so nothing readable about a code reaches SQL), never logged
// (the worker logs the number masked and scrubs codes from provider errors), and never shown to
// clients. Only the DevOutbox, whose purpose in development is to show the message, logs them.
package sms
