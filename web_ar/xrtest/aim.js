// Test-only helpers shared by the xrtest page (main.js) and the init script (inject.js).

import * as THREE from 'three';

/**
 * ``n`` unit directions spread evenly over the sphere (a Fibonacci sphere), sorted so the
 * ones pointing from ``centre`` towards ``viewer`` (horizontally) come first: where to aim a
 * controller at a structure from, the viewer's side first.
 */
export function directionsTowards(viewer, centre, n = 200) {
  const toViewer = viewer.clone().sub(centre).setY(0).normalize();
  const directions = [];
  for (let i = 0; i < n; i++) {
    const y = 1 - (2 * (i + 0.5)) / n;
    const r = Math.sqrt(1 - y * y);
    const phi = i * Math.PI * (3 - Math.sqrt(5));
    directions.push(new THREE.Vector3(r * Math.cos(phi), y, r * Math.sin(phi)));
  }
  return directions.sort((a, b) => b.dot(toViewer) - a.dot(toViewer));
}

const v3 = (a) => new THREE.Vector3(...a);

/** Puts an iwer device or controller at ``from`` ([x, y, z] m), its -Z (view, target ray) towards ``to``. */
export function setPose(target, from, to) {
  const m = new THREE.Matrix4().lookAt(v3(from), v3(to), new THREE.Vector3(0, 1, 0));
  const q = new THREE.Quaternion().setFromRotationMatrix(m);
  target.position.set(...from);
  target.quaternion.set(q.x, q.y, q.z, q.w);
}

/** Presses and releases ``button`` of an iwer controller, three session frames each. */
export async function pressAndRelease(controller, button, waitFrames) {
  controller.updateButtonValue(button, 1);
  await waitFrames(3);
  controller.updateButtonValue(button, 0);
  await waitFrames(3);
}
