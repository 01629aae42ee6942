// Package retention decides which studies a clinic's node no longer needs
// and purges them, and keeps a full disk from stopping the node.
//
// The node shares studies; it is not the archive of record. A study goes
// when the clinic's settings say its time is up:
//
//   - retention.after_link after its last link expired or was revoked
//     (and after its last object arrived), reason "link-ended";
//   - retention.unshared after its last object arrived, for a study that
//     was never shared, reason "unshared";
//   - earlier, oldest first, while the free disk space is below
//     retention.free_floor, reason "free-space".
//
// Guarantees:
//
//   - A study with a live link (not expired, not revoked) is never purged,
//     nor one still being received or processed (the store's pending
//     entries, the pipeline's work in flight) or one whose Storage
//     Commitment is pending (Config.Busy). Each is checked again just
//     before the study is taken out of the index.
//   - A purge is crash-safe (store.MarkPurge): the study leaves the index
//     in one transaction; its files, copies, renders, links, tokens and
//     outbox records go afterwards. A purge a crash interrupted is finished
//     at the next start (Resume) and audited once.
//   - Every purge is in the audit log (share.EventStudyPurged: study
//     number, reason, age, objects and size; never patient data), logged
//     the same way and counted (sonolink_retention_*). A dry run lists
//     exactly what the real run would purge at the same moment.
//   - Below storage.reserve of free space, Admit refuses new objects (the
//     pipeline answers A700) after trying a purge pass; Health then says
//     why. Patient pages, which only read, keep working. The free space
//     comes from a Disk probe (statfs; tests give their own).
package retention
