// A Storage Commitment Push Model requester built on dcmjs-dimse, an
// implementation independent of sonolink, for the end-to-end tests. Unlike
// Orthanc it keeps its association open after the N-ACTION-RSP and takes
// the N-EVENT-REPORT on it, as a modality that waits for its commitment:
//
//   node stgcmt.js HOST PORT CALLED_AET CALLING_AET TRANSACTION_UID WAIT_MS CLASS_UID:INSTANCE_UID...
//
// It sends one N-ACTION (Action Type ID 1) listing the instances, answers
// the N-EVENT-REPORT that arrives on the same association with Success, and
// releases once it has it (or after WAIT_MS). It prints one JSON line:
// {"actionStatus": N, "eventType": N, "transaction": "...",
//  "committed": [{"class": "...", "instance": "..."}],
//  "failed": [{"class": "...", "instance": "...", "reason": N}]}
// eventType is 0 when no report arrived on the association. Exit 0 when
// the N-ACTION was answered, 2 otherwise.
'use strict';

const dimse = require('dcmjs-dimse');
const { Client, Dataset } = dimse;
const { NActionRequest } = dimse.requests;
const { NEventReportResponse } = dimse.responses;
const { SopClass, Status } = dimse.constants;
dimse.log.setLevel('error'); // stdout carries the result line only

const [host, port, called, calling, transaction, waitMs, ...refs] = process.argv.slice(2);
if (!transaction || !refs.length) {
  console.error('usage: node stgcmt.js HOST PORT CALLED CALLING TRANSACTION_UID WAIT_MS CLASS:INSTANCE...');
  process.exit(2);
}
const pushModel = SopClass.StorageCommitmentPushModel; // 1.2.840.10008.1.20.1
const pushModelInstance = '1.2.840.10008.1.20.1.1';

const request = new NActionRequest(pushModel, pushModelInstance, 1);
request.setDataset(new Dataset({
  TransactionUID: transaction,
  ReferencedSOPSequence: refs.map((r) => {
    const [cls, inst] = r.split(':');
    return { ReferencedSOPClassUID: cls, ReferencedSOPInstanceUID: inst };
  }),
}));

const out = { actionStatus: -1, eventType: 0, transaction: '', committed: [], failed: [] };
request.on('response', (response) => {
  out.actionStatus = response.getStatus();
});

const asList = (v) => (Array.isArray(v) ? v : v ? [v] : []);

const client = new Client();
client.addRequest(request);
client.on('nEventReportRequest', (report, callback) => {
  out.eventType = report.getEventTypeId();
  const ds = report.getDataset();
  const el = ds ? ds.getElements() : {};
  out.transaction = el.TransactionUID || '';
  out.committed = asList(el.ReferencedSOPSequence).map((i) => ({
    class: i.ReferencedSOPClassUID, instance: i.ReferencedSOPInstanceUID,
  }));
  out.failed = asList(el.FailedSOPSequence).map((i) => ({
    class: i.ReferencedSOPClassUID, instance: i.ReferencedSOPInstanceUID, reason: i.FailureReason,
  }));
  const rsp = NEventReportResponse.fromRequest(report);
  rsp.setStatus(Status.Success);
  callback(rsp);
  // Release once the report is answered, rather than at the linger's end.
  setTimeout(() => {
    if (client.network) {
      client.network.sendAssociationReleaseRequest();
    }
  }, 100);
});
client.on('networkError', (e) => {
  console.error('network error: ' + e);
  process.exitCode = 2;
});
client.on('associationRejected', (r) => {
  console.error('association rejected: ' + JSON.stringify(r));
  process.exitCode = 2;
});
client.on('closed', () => {
  if (out.actionStatus < 0) {
    console.error('no N-ACTION response');
    process.exitCode = 2;
  }
  // Exit now: the library's linger timer would hold the process.
  process.stdout.write(JSON.stringify(out) + '\n', () => process.exit());
});
// The association lingers after the N-ACTION-RSP: that is the time the
// SCP has to send its report on it.
client.send(host, Number(port), calling, called, { associationLingerTimeout: Number(waitMs) });
