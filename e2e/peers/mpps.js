// An MPPS SCU built on dcmjs-dimse, an implementation independent of
// sonolink, for the end-to-end tests. One association per call, as many
// scanners do:
//
//   node mpps.js HOST PORT CALLED_AET CALLING_AET create INSTANCE_UID STUDY_UID
//   node mpps.js HOST PORT CALLED_AET CALLING_AET set INSTANCE_UID STATUS [CLASS_UID:INSTANCE_UID ...]
//
// INSTANCE_UID "-" leaves the choice to the SCP (create). It prints one
// JSON line when the response arrives: {"status": N, "instance": "...",
// "comment": "..."}; exit 0 when a response arrived, 2 otherwise.
'use strict';

const dimse = require('dcmjs-dimse');
const { Client, Dataset } = dimse;
const { NCreateRequest, NSetRequest } = dimse.requests;
const { SopClass } = dimse.constants;
dimse.log.setLevel('error'); // stdout carries the result line only

const [host, port, called, calling, op, instance, ...rest] = process.argv.slice(2);
if (!op || !instance) {
  console.error('usage: node mpps.js HOST PORT CALLED CALLING create|set INSTANCE_UID ...');
  process.exit(2);
}
const mpps = SopClass.ModalityPerformedProcedureStep;

let request;
if (op === 'create') {
  const now = new Date();
  const date = now.toISOString().slice(0, 10).replace(/-/g, '');
  const time = now.toISOString().slice(11, 19).replace(/:/g, '');
  request = new NCreateRequest(mpps, instance === '-' ? '' : instance);
  request.setDataset(new Dataset({
    SpecificCharacterSet: 'ISO_IR 100',
    Modality: 'US',
    PatientName: 'MPPS^E2E',
    PatientID: 'MPPS-E2E',
    ScheduledStepAttributesSequence: [{
      StudyInstanceUID: rest[0],
      AccessionNumber: '',
      RequestedProcedureID: '',
      ScheduledProcedureStepID: '',
    }],
    PerformedProcedureStepID: 'PPS1',
    PerformedStationAETitle: calling,
    PerformedProcedureStepStartDate: date,
    PerformedProcedureStepStartTime: time,
    PerformedProcedureStepStatus: 'IN PROGRESS',
    PerformedSeriesSequence: [],
  }));
} else if (op === 'set') {
  const [status, ...refs] = rest;
  request = new NSetRequest(mpps, instance);
  request.setDataset(new Dataset({
    PerformedProcedureStepStatus: status,
    PerformedProcedureStepEndDate: new Date().toISOString().slice(0, 10).replace(/-/g, ''),
    PerformedSeriesSequence: [{
      SeriesInstanceUID: '2.25.1',
      RetrieveAETitle: '',
      ReferencedImageSequence: refs.map((r) => {
        const [cls, inst] = r.split(':');
        return { ReferencedSOPClassUID: cls, ReferencedSOPInstanceUID: inst };
      }),
    }],
  }));
} else {
  console.error('unknown operation ' + op);
  process.exit(2);
}

let answered = false;
request.on('response', (response) => {
  answered = true;
  const out = { status: response.getStatus(), instance: response.getAffectedSopInstanceUid() || '' };
  const comment = response.getErrorComment ? response.getErrorComment() : undefined;
  if (comment) {
    out.comment = comment;
  }
  process.stdout.write(JSON.stringify(out) + '\n');
});

const client = new Client();
client.addRequest(request);
client.on('networkError', (e) => {
  console.error('network error: ' + e);
  process.exitCode = 2;
});
client.on('closed', () => {
  if (!answered) {
    console.error('no response');
    process.exitCode = 2;
  }
});
client.send(host, Number(port), calling, called);
