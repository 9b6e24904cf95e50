// X-Twilio-Signature against every official vector of twilio-node spec/validation.spec.js (providers.md §13.1).
import assert from "node:assert/strict";
import { formParams, signTwilio, verifyTwilio } from "../../shared/webhooks/twilio.ts";

const token = "12345";
const defaultParams = {
  CallSid: "CA1234567890ABCDE",
  Caller: "+14158675309",
  Digits: "1234",
  From: "+14158675309",
  To: "+18005551212",
};
const requestUrl = "https://mycompany.com/myapp.php?foo=1&bar=2";
const body = new TextEncoder().encode('{"property": "value", "boolean": true}');
const bodySha = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";

const ok = (signature: string, url: string, params: Record<string, string | string[]> = defaultParams) =>
  verifyTwilio({ authToken: token, signature, url, params });

Deno.test("signTwilio() reproduces the official signature of the default request (T1)", async () => {
  assert.equal(await signTwilio(token, requestUrl, defaultParams), "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
});

Deno.test("verifyTwilio() accepts the official vectors T1 to T10", async () => {
  const cases: [string, string, string, Record<string, string | string[]>?][] = [
    ["T1", requestUrl, "RSOYDt4T1cUTdK1PDd93/VVr8B8="],
    ["T2 (signed with :443, URL without port)", requestUrl, "kvajT1Ptam85bY51eRf/AJRuM3w="],
    [
      "T3 (non-default port)",
      "http://mycompany.com:1234/myapp.php?foo=1&bar=2",
      "Zmvh+3yNM1Phv2jhDCwEM3q5ebU=",
    ],
    [
      "T4 (signed with :80, URL without port)",
      "http://mycompany.com/myapp.php?foo=1&bar=2",
      "0ZXoZLH/DfblKGATFgpif+LLRf4=",
    ],
    [
      "T5 (credentials)",
      "https://user:pass@mycompany.com/myapp.php?foo=1&bar=2",
      "CukzLTc1tT5dXEDIHm/tKBanW10=",
    ],
    ["T6 (user only)", "https://user@mycompany.com/myapp.php?foo=1&bar=2", "2YRLlVAflCqxaNicjMpJcSTgzSs="],
    [
      "T7 (credentials, signed with :443)",
      "https://user:pass@mycompany.com/myapp.php?foo=1&bar=2",
      "ZQFR1PTIZXF2MXB8ZnKCvnnA+rI=",
    ],
    ["T8 (legacy encoding of ')", `${requestUrl}&Body=It's+amazing`, "TfZzewPq8wqrGlMfyAud8+/IvJ0="],
    ["T9 (multi-value, one order)", requestUrl, "83O6e2vORAoJHUNzJjDWN1jz+BA=", {
      "MessagingBinding.Address": ["+1325xxxxxxx", "+1415xxxxxxx"],
    }],
    ["T9 (multi-value, other order)", requestUrl, "83O6e2vORAoJHUNzJjDWN1jz+BA=", {
      "MessagingBinding.Address": ["+1415xxxxxxx", "+1325xxxxxxx"],
    }],
    ["T10 (repeated values deduplicated)", requestUrl, "IK+Dwps556ElfBT0I3Rgjkr1wJU=", {
      Sid: "CA123",
      SidAccount: "AC123",
      Digits: ["5678", "1234", "1234"],
    }],
  ];
  for (const [name, url, signature, params] of cases) {
    assert.equal(await ok(signature, url, params), true, name);
  }
});

Deno.test("verifyTwilio() accepts the official JSON-body vectors when the body matches bodySHA256", async () => {
  const withHash = `${requestUrl}&bodySHA256=${bodySha}`;
  assert.equal(
    await verifyTwilio({
      authToken: token,
      signature: "a9nBmqA0ju/hNViExpshrM61xv4=",
      url: withHash,
      jsonBody: body,
    }),
    true,
  );
  const empty = new TextEncoder().encode("{}");
  const emptyHash = "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
  assert.equal(
    await verifyTwilio({
      authToken: token,
      signature: "Ldidvp12m26NI7eqEvxnEpkd9Hc=",
      url: `${requestUrl}&bodySHA256=${emptyHash}`,
      jsonBody: empty,
    }),
    true,
  );
  const short = `https://mycompany.com/myapp.php?bodySHA256=${bodySha}`;
  assert.equal(
    await verifyTwilio({
      authToken: token,
      signature: "y77kIzt2vzLz71DgmJGsen2scGs=",
      url: short,
      jsonBody: body,
    }),
    true,
  );
});

Deno.test("verifyTwilio() refuses a wrong signature, a wrong body hash and a body without bodySHA256", async () => {
  assert.equal(await ok("WRONG_SIGNATURE", requestUrl), false);
  assert.equal(
    await ok("RSOYDt4T1cUTdK1PDd93/VVr8B8=", requestUrl, { ...defaultParams, Digits: "9999" }),
    false,
  );
  assert.equal(await ok("RSOYDt4T1cUTdK1PDd93/VVr8B8=", "https://evil.example/myapp.php?foo=1&bar=2"), false);
  assert.equal(
    await verifyTwilio({
      authToken: "54321",
      signature: "RSOYDt4T1cUTdK1PDd93/VVr8B8=",
      url: requestUrl,
      params: defaultParams,
    }),
    false,
  );
  assert.equal(await ok("", requestUrl), false);
  const wrongHash = `${requestUrl}&bodySHA256=WRONG_HASH`;
  const signedWrongHash = await signTwilio(token, wrongHash);
  assert.equal(
    await verifyTwilio({ authToken: token, signature: signedWrongHash, url: wrongHash, jsonBody: body }),
    false,
  );
  const signedNoHash = await signTwilio(token, requestUrl);
  assert.equal(
    await verifyTwilio({ authToken: token, signature: signedNoHash, url: requestUrl, jsonBody: body }),
    false,
  );
});

Deno.test("formParams() keeps every value of a repeated key", () => {
  assert.deepEqual(formParams(new URLSearchParams("To=%2B1&MediaUrl=a&MediaUrl=b")), {
    To: "+1",
    MediaUrl: ["a", "b"],
  });
});
