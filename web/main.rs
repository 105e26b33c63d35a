//! The web page's program: the app on the page's canvas (`<canvas id="beyond">`).

fn main() {
    beyond::app::web::start("beyond");
}
