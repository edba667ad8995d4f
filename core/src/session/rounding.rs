//! Plate rounding. Every prescribed weight is a whole number of increments.

/// Float noise below a billionth of an increment is treated as exact for ceilings and floors,
/// so that a cap of exactly k increments never rounds up to k + 1 through representation
/// noise.
fn steps(weight_kg: f64, increment_kg: f64) -> f64 {
    let q = weight_kg / increment_kg;
    let snapped = (q * 1e9).round() / 1e9;
    if snapped.is_finite() {
        snapped
    } else {
        q
    }
}

/// Removes the representation noise of `k × increment` (3 × 0.1 = 0.30000000000000004) so
/// that weights print and compare cleanly; every increment we accept is ≥ 0.01 kg.
fn tidy(weight_kg: f64) -> f64 {
    let t = (weight_kg * 1e6).round() / 1e6;
    if t == 0.0 {
        0.0 // never -0.0 in output
    } else {
        t
    }
}

fn usable(increment_kg: f64) -> bool {
    increment_kg.is_finite() && increment_kg > 0.0
}

/// Rounds to the nearest multiple of `increment_kg`, halves up, on the binary quotient as
/// the seed app does: 0.70 × 162.5 kg is 113.74999… in binary and rounds to 112.5, exactly
/// as the lifter's app has always prescribed it.
pub fn round_to_increment(weight_kg: f64, increment_kg: f64) -> f64 {
    if !usable(increment_kg) {
        return weight_kg;
    }
    tidy((weight_kg / increment_kg).round() * increment_kg)
}

/// Rounds up to a multiple of `increment_kg`. Used for ceilings the lifter chose (a Rehab
/// Mode cap of 82.5 kg on 5 kg plates prescribes 85 kg: the lifter set the cap knowing
/// their plates, so rounding down would silently drop work they asked for).
pub fn round_up_to_increment(weight_kg: f64, increment_kg: f64) -> f64 {
    if !usable(increment_kg) {
        return weight_kg;
    }
    tidy(steps(weight_kg, increment_kg).ceil() * increment_kg)
}

/// Rounds down to a multiple of `increment_kg`. Used for ceilings that must never be
/// exceeded (1.20 × the formula weight).
pub fn floor_to_increment(weight_kg: f64, increment_kg: f64) -> f64 {
    if !usable(increment_kg) {
        return weight_kg;
    }
    tidy(steps(weight_kg, increment_kg).floor() * increment_kg)
}

/// A weight for messages: `85`, `82.5`, `106.25`.
pub(crate) fn kg(weight_kg: f64) -> String {
    format!("{}", tidy(weight_kg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_up_and_down() {
        assert_eq!(round_to_increment(112.0, 2.5), 112.5);
        assert_eq!(round_to_increment(101.25, 2.5), 102.5);
        assert_eq!(round_to_increment(101.0, 2.5), 100.0);
        assert_eq!(round_to_increment(0.85 * 75.0, 2.5), 65.0);
        assert_eq!(round_up_to_increment(82.5, 5.0), 85.0);
        assert_eq!(round_up_to_increment(85.0, 5.0), 85.0);
        assert_eq!(floor_to_increment(69.0, 2.5), 67.5);
        assert_eq!(round_to_increment(0.3, 0.1), 0.3);
        assert_eq!(kg(85.0), "85");
        assert_eq!(kg(82.5), "82.5");
    }
}
