//! The chat request `generate_session` sends: instructions, the adjustment contract and the
//! lifter's context. The model answers with one JITAdjustment; everything it says is still
//! validated and constrained afterwards, so the prompt only has to make good answers likely.

use serde_json::Value;

use crate::llm::{request_body, ChatRequest, ResponseFormat};

const SYSTEM: &str = "You are a strength coach adjusting today's training session just in time. \
You receive the lifter's context as JSON: today's formula session (formulaSession), weekly \
volume per muscle against MEV/MRV (volumeStatus), soreness ratings (1-10), recent logs with RPE \
and active disruptions. Propose one adjustment of the formula session. Reply with a single JSON \
object and nothing else, with exactly these fields:\n\
- intensityModifier: number 0.40..1.20 multiplying the main-lift weight (1.0 = unchanged)\n\
- setModifier: integer -3..2 added to the main-lift sets\n\
- skipMainLift: boolean\n\
- auxOverrides: array of {\"exercise\": name, \"action\": \"skip\"|\"reduce\"|\"normal\", \"anchorOverride\": null}\n\
- rationale: array of at most 5 short strings (each at most 200 characters)\n\
- confidence: \"high\"|\"medium\"|\"low\"\n\
- restAdjustments: {\"mainLift\": seconds to add or remove, -60..60} or null\n\
Prefer small changes; hard safety limits (MRV, rehab caps, minimum sets) are enforced after you.";

/// The chat-completions body for one session adjustment.
pub fn adjustment_request(model: &str, context: &Value) -> Value {
    let user = context.to_string();
    request_body(&ChatRequest {
        model,
        system: SYSTEM,
        user: &user,
        format: ResponseFormat::JsonObject,
        temperature: Some(0.2),
    })
}
