// Applying the stream's patches: the RFC 6902 operations add, remove and replace, which are
// all the daemon sends (docs/stream.md; the daemon's differ is controller/core/patch.py).
// `applyPatch(doc, ops)` changes containers in place and returns the new root; an operation
// that does not fit the document throws.
"use strict";

const applyPatch = (function () {
  function unescape(token) {
    return token.replace(/~1/g, "/").replace(/~0/g, "~");
  }
  function isIndex(token) {
    return /^(0|[1-9][0-9]*)$/.test(token);
  }
  function copy(value) {
    return value === undefined ? null : JSON.parse(JSON.stringify(value));
  }
  function applyOne(doc, op) {
    const path = op.path;
    if (!["add", "remove", "replace"].includes(op.op) || typeof path !== "string") {
      throw new Error(`unsupported operation ${JSON.stringify(op)}`);
    }
    if (path === "") {
      if (op.op === "remove") throw new Error("cannot remove the whole document");
      return copy(op.value);
    }
    if (path[0] !== "/") throw new Error(`not a JSON pointer: ${path}`);
    const tokens = path.slice(1).split("/").map(unescape);
    let parent = doc;
    for (const token of tokens.slice(0, -1)) {
      if (Array.isArray(parent) && isIndex(token) && Number(token) < parent.length) {
        parent = parent[Number(token)];
      } else if (parent !== null && typeof parent === "object" && !Array.isArray(parent) &&
                 Object.prototype.hasOwnProperty.call(parent, token)) {
        parent = parent[token];
      } else {
        throw new Error(`${path}: no ${token}`);
      }
    }
    const last = tokens[tokens.length - 1];
    if (Array.isArray(parent)) {
      if (op.op === "add" && last === "-") {
        parent.push(copy(op.value));
        return doc;
      }
      if (!isIndex(last)) throw new Error(`${path}: not a list index`);
      const i = Number(last);
      if (i > parent.length || (op.op !== "add" && i === parent.length)) {
        throw new Error(`${path}: index out of range`);
      }
      if (op.op === "add") parent.splice(i, 0, copy(op.value));
      else if (op.op === "remove") parent.splice(i, 1);
      else parent[i] = copy(op.value);
      return doc;
    }
    if (parent !== null && typeof parent === "object") {
      const has = Object.prototype.hasOwnProperty.call(parent, last);
      if (op.op !== "add" && !has) throw new Error(`${path}: no such member`);
      if (op.op === "remove") delete parent[last];
      else parent[last] = copy(op.value);
      return doc;
    }
    throw new Error(`${path}: the parent is not a container`);
  }
  return function applyPatch(doc, ops) {
    for (const op of ops) doc = applyOne(doc, op);
    return doc;
  };
})();
