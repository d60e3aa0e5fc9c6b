/* The SMS count under the reply box: how many SMS the text goes out as, asked of the hub
 * (GSM-7 or UCS-2, counted as carriers count), shown only when the reply leaves by SMS. */

import { $, api } from "./inbox-core.js";
import { channelKind } from "./inbox-icons.js";

const SMS_KINDS = new Set(["twilio"]);
const WAIT_MS = 250;
let timer = null;
let asked = 0;

/** Watch the reply box; ``targetChannel()`` names the channel the reply would leave on. */
export function bindSmsCount(targetChannel) {
  const update = () => {
    clearTimeout(timer);
    timer = setTimeout(() => showCount(targetChannel()), WAIT_MS);
  };
  $("reply-text").addEventListener("input", update);
  $("reply-identity").addEventListener("change", update);
  return update;
}

async function showCount(channel) {
  const line = $("sms-count");
  const text = $("reply-text").value.trim();
  const mine = ++asked;
  if (!text || !SMS_KINDS.has(channelKind(channel))) {
    line.hidden = true;
    return;
  }
  try {
    const count = await api("POST", "/api/sms/segments", { text });
    if (mine !== asked) return;
    const parts = count.count === 1 ? "1 SMS" : `${count.count} SMS`;
    line.textContent = `${parts} · ${count.encoding} · ${count.left} left in the last one`;
    line.hidden = false;
  } catch {
    line.hidden = true;
  }
}
