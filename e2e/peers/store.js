// A C-STORE SCU built on dcmjs-dimse, an implementation independent of
// sonolink, for the end-to-end tests. It proposes each file's own transfer
// syntax (so it sends objects DCMTK 3.6.7 cannot, such as HTJ2K) on one
// association:
//
//   node store.js HOST PORT CALLED_AET CALLING_AET FILE...
//
// It prints one JSON line, the status of each C-STORE in order (-1: no
// response); exit 0 when every file got a response, 2 otherwise.
'use strict';

const dimse = require('dcmjs-dimse');
const { Client } = dimse;
const { CStoreRequest } = dimse.requests;
dimse.log.setLevel('error'); // stdout carries the result line only

const [host, port, called, calling, ...files] = process.argv.slice(2);
if (!files.length) {
  console.error('usage: node store.js HOST PORT CALLED CALLING FILE...');
  process.exit(2);
}
const statuses = files.map(() => -1);
const client = new Client();
files.forEach((f, i) => {
  const r = new CStoreRequest(f);
  r.on('response', (rsp) => { statuses[i] = rsp.getStatus(); });
  client.addRequest(r);
});
client.on('networkError', (e) => {
  console.error('network error: ' + e);
  process.exitCode = 2;
});
client.on('closed', () => {
  if (statuses.includes(-1)) {
    process.exitCode = 2;
  }
  process.stdout.write(JSON.stringify(statuses) + '\n', () => process.exit());
});
client.send(host, Number(port), calling, called);
