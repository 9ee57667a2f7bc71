// Runs the DC/OS UI's Mesos client (@dcos/mesos-client from npm, unchanged)
// under node against a nodectl master: it opens the operator API's
// SUBSCRIBE stream and prints each record it gets as one JSON line, then
// {"complete":true} when the stream ends, or {"error":{code,message}} when
// the client reports an error.
//
// The client is written for a browser: it sends its requests with
// XMLHttpRequest. This harness provides that global over node's https
// module (the part of the XHR interface the client's @dcos/connections
// uses: open, setRequestHeader, send, abort, responseType "text", status,
// statusText, response and the progress/load/error/abort events). Like a
// browser that holds credentials for the origin, it adds them to every
// request: HTTP Basic from OP_PRINCIPAL and OP_SECRET. The cluster CA is
// trusted through NODE_EXTRA_CA_CERTS.
//
// Usage: node dcos_mesos_client.js https://127.0.0.1:PORT/api/v1

"use strict";

const https = require("https");
const { URL } = require("url");

class XMLHttpRequest {
  constructor() {
    this.listeners = {};
    this.headers = {};
    this.status = 0;
    this.statusText = "";
    this.responseType = "";
    this.timeout = 0;
    this.readyState = 0;
    this.text = "";
  }
  addEventListener(type, fn) {
    (this.listeners[type] = this.listeners[type] || []).push(fn);
  }
  emit(type) {
    for (const fn of this.listeners[type] || []) {
      fn({ type, target: this });
    }
  }
  get response() {
    return this.text;
  }
  get responseText() {
    return this.text;
  }
  open(method, url) {
    this.method = method;
    this.url = new URL(url);
    this.readyState = 1;
  }
  setRequestHeader(k, v) {
    this.headers[k] = v;
  }
  send(body) {
    const headers = Object.assign({}, this.headers);
    if (process.env.OP_PRINCIPAL) {
      headers.Authorization =
        "Basic " + Buffer.from(process.env.OP_PRINCIPAL + ":" + process.env.OP_SECRET).toString("base64");
    }
    this.req = https.request(this.url, { method: this.method, headers }, res => {
      this.status = res.statusCode;
      this.statusText = res.statusMessage;
      this.readyState = 3;
      res.setEncoding("utf8");
      res.on("data", chunk => {
        this.text += chunk;
        this.emit("progress");
      });
      res.on("end", () => {
        this.readyState = 4;
        this.emit("load");
      });
      res.on("error", () => this.emit("error"));
    });
    this.req.on("error", () => {
      if (!this.aborted) {
        this.emit("error");
      }
    });
    if (body !== null && body !== undefined) {
      this.req.write(body);
    }
    this.req.end();
  }
  abort() {
    this.aborted = true;
    if (this.req) {
      this.req.destroy();
    }
    this.emit("abort");
  }
}
global.XMLHttpRequest = XMLHttpRequest;

const { stream } = require("@dcos/mesos-client");

const out = v => process.stdout.write(JSON.stringify(v) + "\n");

stream({ type: "SUBSCRIBE" }, process.argv[2]).subscribe(
  record => out(JSON.parse(record)),
  err => {
    out({ error: { code: err.code, message: err.message } });
    process.exit(3);
  },
  () => {
    out({ complete: true });
    process.exit(0);
  }
);
