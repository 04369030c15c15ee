// Package mail owns outgoing email: the localised templates (Render), the senders that hand a
// message to an SMTP server (SMTPSender) or keep it for developers (DevOutbox), the durable send job
// with its delivery record (Queuer, Worker), the send-rate cap shared by all nodes (Limiter), and the
// checks that tell whether the configured mail server can be reached (Probe, Prober).
//
// A message travels like this: the code that causes it (a sign-up) calls Queuer.Queue inside its
// transaction, which renders the message once to validate it, creates the gatehouse.MailDelivery
// record (queued) and enqueues a SendJob with the template data sealed (seal.Sealer), all
// committed together. A Worker on some node later opens the data, renders the message again, waits
// for a slot under the rate cap, sends it through its Sender and records the outcome (sent with the
// provider's message id, or the provider's error and the attempt count, failed once the job's
// attempts are spent). See docs/adr/0008-email-delivery.md.
//
// The job's data carries secrets (verification links and codes): it is sealed in the job row, so
// nothing readable about them reaches SQL, and nothing here logs it, except the DevOutbox, whose
// purpose in development is to show the message.
package mail
