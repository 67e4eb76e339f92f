#!/usr/bin/env node
// A Node.js client of cim-router, loading the contract (router.proto) at run time.
//
//   node example.js --target localhost:50051 [--tenant NAME]
//     [--token KEY | --token-file FILE] [--ca CA.pem] [--cert CLIENT.pem --key CLIENT.key]
//     [--server-name NAME]
//
// The API key (also from the environment: CIM_ROUTER_TOKEN, CIM_ROUTER_TOKEN_FILE) is sent
// as `authorization: Bearer KEY`. TLS is used when --ca, --cert or --key is given, or the
// target starts with https:// or grpcs://; --cert and --key are for mutual TLS.
//
// Upserts a queue "billing" (chat, the skill billing at level 5) and an agent who serves it,
// enqueues a chat into that queue, reads the router's offer, accepts it, puts the customer
// on hold and back, completes the chat (a second Complete ends its wrap-up), records the
// customer's feedback, reads it back with GetInteraction, and prints a JSON summary on stdout. Exits
// non-zero on any failure. Runs in a tenant of its own unless --tenant is given.
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const PROTO_ROOT = path.join(__dirname, '..', '..', 'proto');
const PROTO = path.join(PROTO_ROOT, 'cim_router', 'v1', 'router.proto');
const CALL_TIMEOUT_MS = 5000;

const FLAGS = ['--target', '--tenant', '--token', '--token-file', '--ca', '--cert', '--key', '--server-name'];

function parseArgs(argv) {
  const args = { target: 'localhost:50051', tenant: `node-${crypto.randomBytes(4).toString('hex')}` };
  for (let k = 0; k < argv.length; k += 2) {
    const flag = argv[k];
    const value = argv[k + 1];
    if (!FLAGS.includes(flag) || value === undefined) {
      throw new Error(`usage: node example.js [${FLAGS.join(' X] [')} X]; bad argument ${flag}`);
    }
    args[flag.slice(2)] = value;
  }
  return args;
}

// The API key: --token, else --token-file, else CIM_ROUTER_TOKEN, else CIM_ROUTER_TOKEN_FILE.
function apiKey(args) {
  const file = args['token-file'] || (!args.token && process.env.CIM_ROUTER_TOKEN_FILE);
  let key = args.token || (!args['token-file'] && process.env.CIM_ROUTER_TOKEN) || '';
  if (!key && file) {
    key = fs.readFileSync(file, 'utf8').trim();
    if (!key) throw new Error(`the token file ${file} is empty`);
  }
  return key || null;
}

// The address to dial, the channel credentials and options (TLS or plaintext).
function channel(args) {
  let address = args.target;
  let tls = Boolean(args.ca || args.cert || args.key);
  for (const scheme of ['https://', 'grpcs://']) {
    if (address.startsWith(scheme)) {
      address = address.slice(scheme.length).replace(/\/+$/, '');
      tls = true;
    }
  }
  if (!tls) return { address, credentials: grpc.credentials.createInsecure(), options: {} };
  if (Boolean(args.cert) !== Boolean(args.key)) throw new Error('--cert and --key go together');
  const read = (file) => (file ? fs.readFileSync(file) : null);
  const credentials = grpc.credentials.createSsl(read(args.ca), read(args.key), read(args.cert));
  const options = args['server-name'] ? { 'grpc.ssl_target_name_override': args['server-name'] } : {};
  return { address, credentials, options };
}

function loadRouter() {
  const definition = protoLoader.loadSync(PROTO, {
    keepCase: true, // field names as in the .proto: interaction_id, not interactionId
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
    includeDirs: [PROTO_ROOT],
  });
  return grpc.loadPackageDefinition(definition).cim_router.v1.Router;
}

// A google.protobuf.Struct from a flat object of strings and numbers.
function struct(values) {
  const fields = {};
  for (const [key, value] of Object.entries(values)) {
    fields[key] = typeof value === 'number' ? { numberValue: value } : { stringValue: String(value) };
  }
  return { fields };
}

function plain(structValue) {
  const out = {};
  for (const [key, value] of Object.entries((structValue && structValue.fields) || {})) {
    out[key] = value[value.kind];
  }
  return out;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const Router = loadRouter();
  const { address, credentials, options } = channel(args);
  const client = new Router(address, credentials, options);
  const metadata = new grpc.Metadata();
  metadata.set('x-cim-tenant', args.tenant);
  const key = apiKey(args);
  if (key) metadata.set('authorization', `Bearer ${key}`);

  const call = (method, request) =>
    new Promise((resolve, reject) => {
      const deadline = new Date(Date.now() + CALL_TIMEOUT_MS);
      client[method](request, metadata, { deadline }, (err, response) =>
        err ? reject(err) : resolve(response),
      );
    });

  // The first `count` events of the tenant's event stream (WatchEvents), then the stream is
  // closed; each carries its stream entry id, to resume after (after_id) on a reconnect.
  const firstEvents = (request, count) =>
    new Promise((resolve, reject) => {
      const got = [];
      const deadline = new Date(Date.now() + CALL_TIMEOUT_MS);
      const stream = client.WatchEvents(request, metadata, { deadline });
      stream.on('data', (message) => {
        got.push(message);
        if (got.length === count) {
          stream.cancel();
          resolve(got);
        }
      });
      stream.on('error', (err) => {
        if (got.length < count) reject(err);
      });
    });

  try {
    const queue = await call('UpsertQueue', {
      queue: {
        id: 'billing',
        channels: ['CHANNEL_CHAT'],
        required_skills: [{ skill: 'billing', min_level: 5 }],
        max_wait_seconds: 600,
        // Work waiting over two minutes goes to the default queue, keeping its place.
        overflow: [
          {
            name: 'spill',
            when: 'OVERFLOW_CONDITION_WAITED',
            threshold: 120,
            then: 'OVERFLOW_ACTION_MOVE',
            queue_id: 'default',
          },
        ],
      },
    });
    if (queue.queue.overflow.length !== 1 || queue.queue.overflow[0].name !== 'spill') {
      throw new Error('expected the overflow rule back');
    }
    const agent = await call('UpsertAgent', {
      agent_id: 'nadia',
      display_name: 'Nadia',
      skills: { billing: 8, french: 6 },
      state: 'AGENT_STATE_AVAILABLE',
      routing_profile: [{ queue_id: 'billing', priority: 10 }],
    });
    const enqueued = await call('Enqueue', {
      interaction_id: 'chat-1',
      customer_id: 'c-42',
      channel: 'CHANNEL_CHAT',
      queue_id: 'billing', // its skills come from the queue
      priority: 40,
      context: struct({ order: 'A-17', amount: 12.5 }),
    });
    const offer = enqueued.interaction.offer;
    if (enqueued.interaction.state !== 'INTERACTION_STATE_OFFERED' || !offer) {
      throw new Error(`expected an offer, got ${enqueued.interaction.state}`);
    }
    const accepted = await call('Accept', { interaction_id: 'chat-1', agent_id: offer.agent_id });
    const held = await call('Hold', {
      interaction_id: 'chat-1',
      agent_id: offer.agent_id,
      reason: 'checking the order',
    });
    await call('Resume', { interaction_id: 'chat-1', agent_id: offer.agent_id });
    const completed = await call('Complete', {
      interaction_id: 'chat-1',
      agent_id: offer.agent_id,
      disposition: 'resolved',
      csat: 5,
    });
    await call('Complete', { interaction_id: 'chat-1' }); // ends the wrap-up: COMPLETED
    // A survey system's answer; it replaces the CSAT given at Complete.
    const rated = await call('SubmitFeedback', {
      interaction_id: 'chat-1',
      csat: 4,
      comment: 'quick and kind',
      fields: { nps: '9' },
    });
    const full = await call('GetInteraction', { interaction_id: 'chat-1' });
    const events = await firstEvents({ from_start: true }, full.history.length);
    const customer = await call('GetCustomer', { customer_id: 'c-42' });
    // A caller who asks to be called back: the call keeps its place in line.
    await call('Enqueue', { interaction_id: 'call-1', channel: 'CHANNEL_VOICE' });
    const callback = await call('RequestCallback', {
      interaction_id: 'call-1',
      address: '+33123456789',
      max_attempts: 2,
    });
    const summary = {
      tenant: args.tenant,
      agent: {
        id: agent.id,
        state: agent.state,
        skills: agent.skills,
        queues: agent.routing_profile.map((m) => m.queue_id),
      },
      interaction: full.id,
      queue: full.queue_id,
      queue_open: queue.open,
      required_skills: full.required_skills.map((r) => `${r.skill}=${r.min_level}`),
      created: enqueued.created,
      offered_to: offer.agent_id,
      accepted_state: accepted.state,
      on_hold: held.on_hold,
      hold_count: full.hold_count,
      completed_state: completed.state,
      feedback: { csat: rated.csat, comment: rated.feedback_comment, fields: rated.feedback_fields },
      state: full.state,
      agent_id: full.agent_id,
      disposition: full.disposition,
      csat: full.csat,
      context: plain(full.context),
      history: full.history.map((event) => event.type),
      events: events.map((m) => [m.id, m.event.type, m.event.interaction_id]),
      callback: {
        address: callback.callback.address,
        max_attempts: callback.callback.max_attempts,
        direction: callback.direction,
      },
      customer: {
        interactions: customer.interactions.map((i) => i.id),
        last_agent_id: customer.last_agent_id,
        contacts: customer.totals.contacts,
        csat_mean: customer.totals.csat_mean,
      },
    };
    process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  } finally {
    client.close();
  }
}

main().catch((err) => {
  const code = err.code !== undefined ? `${grpc.status[err.code]}: ` : '';
  process.stderr.write(`node example: ${code}${err.details || err.message}\n`);
  process.exitCode = 1;
});
