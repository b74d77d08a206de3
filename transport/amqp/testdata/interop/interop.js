// Nova's RabbitMQ interop check, from the side of a client that is not
// Nova: amqplib for AMQP and the official CloudEvents SDK, in strict mode,
// for the events. Run by TestInteropWithNodeCloudEventsSDK.
//
// It reads NOVA_EXPECT events from NOVA_IN_QUEUE (written by Nova, in
// either content mode), builds each into a CloudEvent (which throws on
// anything the spec forbids), and sends each back to NOVA_OUT_EXCHANGE in
// binary mode (routing key "echo.binary") and in structured mode
// ("echo.structured"). It then publishes an event of its own, with every
// context attribute, extensions, metadata Nova carries in novametadata and
// a typed payload, in both modes ("fresh.binary", "fresh.structured").
// It prints one JSON object: the events it read, as the SDK sees them.
"use strict";

const amqp = require("amqplib");
const { CloudEvent } = require("cloudevents");

const url = process.env.NOVA_AMQP_URL;
const inQueue = process.env.NOVA_IN_QUEUE;
const outExchange = process.env.NOVA_OUT_EXCHANGE;
const expect = Number(process.env.NOVA_EXPECT);

// fromMessage builds a CloudEvent from an AMQP message per the CloudEvents
// AMQP binding: structured mode by content type, binary mode otherwise,
// with either header prefix.
function fromMessage(msg) {
  const props = msg.properties;
  const contentType = props.contentType || "";
  if (contentType.split(";")[0].trim() === "application/cloudevents+json") {
    return { mode: "structured", event: new CloudEvent(JSON.parse(msg.content.toString("utf8")), true) };
  }
  const attrs = {};
  for (const [key, value] of Object.entries(props.headers || {})) {
    for (const prefix of ["cloudEvents_", "cloudEvents:"]) {
      if (key.startsWith(prefix)) {
        attrs[key.slice(prefix.length)] = Buffer.isBuffer(value) ? value.toString("utf8") : value;
      }
    }
  }
  if (contentType) {
    attrs.datacontenttype = contentType;
  }
  if (msg.content.length > 0) {
    attrs.data = /json/.test(contentType) ? JSON.parse(msg.content.toString("utf8")) : msg.content;
  }
  return { mode: "binary", event: new CloudEvent(attrs, true) };
}

// publishBoth sends event in binary and in structured mode.
function publishBoth(ch, event, prefix) {
  const headers = {};
  for (const [key, value] of Object.entries(event.toJSON())) {
    if (value === undefined || value === null) continue;
    if (key === "data" || key === "data_base64" || key === "datacontenttype") continue;
    headers["cloudEvents_" + key] = value instanceof Date ? value.toISOString() : String(value);
  }
  const body = event.data === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(event.data));
  const binaryProps = { headers, persistent: true, messageId: event.id, type: event.type };
  if (event.data !== undefined) binaryProps.contentType = event.datacontenttype || "application/json";
  ch.publish(outExchange, prefix + ".binary", body, binaryProps);
  ch.publish(outExchange, prefix + ".structured", Buffer.from(JSON.stringify(event)), {
    contentType: "application/cloudevents+json; charset=utf-8",
    persistent: true,
  });
}

async function main() {
  const conn = await amqp.connect(url);
  const ch = await conn.createConfirmChannel();
  const read = [];
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`read ${read.length} of ${expect} events in 30s`)), 30000);
    ch.consume(inQueue, (msg) => {
      try {
        const { mode, event } = fromMessage(msg);
        event.validate();
        read.push({ mode, event: event.toJSON() });
        publishBoth(ch, event, "echo");
        ch.ack(msg);
      } catch (err) {
        clearTimeout(timer);
        reject(new Error(`the CloudEvents SDK refused a Nova event: ${err.message} ${JSON.stringify(err.errors || "")}`));
        return;
      }
      if (read.length === expect) {
        clearTimeout(timer);
        resolve();
      }
    });
  });

  const fresh = new CloudEvent({
    specversion: "1.0",
    id: "node-1",
    type: "order.shipped",
    source: "/node/shop",
    time: "2025-03-04T05:06:07.890Z",
    subject: "o-9",
    dataschema: "https://example.com/schemas/order",
    datacontenttype: "application/json",
    tenant: "acme",
    novadatatype: "shop.order-placed",
    novametadata: JSON.stringify({ customer_id: "c-9", trace_id: "abc123", "Trace-ID": "Mixed-Case", "": "empty key" }),
    data: { order_id: "o-9", amount: 12.25 },
  }, true);
  fresh.validate();
  publishBoth(ch, fresh, "fresh");
  await ch.waitForConfirms();
  await ch.close();
  await conn.close();
  process.stdout.write(JSON.stringify({ read }) + "\n");
}

main().catch((err) => {
  process.stderr.write(String(err && err.stack ? err.stack : err) + "\n");
  process.exit(1);
});
