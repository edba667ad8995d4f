// Migrations are embedded into the binary by refinery's macro, which cargo does not track:
// rebuild when a file under migrations/ is added or changed.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
