// The hologram look, as a shader patch on the materials three.js's GLTFLoader makes:
//
// - uptake (the file's KHR_materials_unlit + COLOR_0 palette morph): the palette colour
//   exactly where the surface faces the viewer (the colour keeps its meaning there, which
//   the tests check against the curve), darker towards the silhouette so the organ has a
//   shape, and a rim of its own colour on top: a hot organ glows, a cold one barely;
// - organs (lit glTF materials): shaded as three.js lights them, plus a faint rim;
// - the body (the file's blended envelope): a glass shell, nearly clear where it faces
//   the viewer and drawn at its outline, with a cool tint;
// - additive displays (HoloLens: black is see-through): every colour is lifted towards
//   white by ``lift`` (lift + (1 - lift) * c), so a cold organ does not vanish.
//
// One set of uniforms serves every patched material (one upload per program, no per-mesh
// state); ``setAdditive`` switches the lift for all of them at once.

import * as THREE from 'three';

export const ADDITIVE_LIFT = 0.22; // the darkest palette stop (luminance 0.16) stays clearly visible

const uniforms = {
  arkitLift: { value: 0 },
  arkitShade: { value: 0.45 }, // how much darker the silhouette is than the facing surface
  arkitGlow: { value: 0.9 }, // the rim's strength (uptake)
  arkitRim: { value: 0.35 }, // the rim's strength (lit organs)
  arkitShellCore: { value: 0.35 }, // the shell's opacity where it faces the viewer (times its own)
  arkitShellTint: { value: new THREE.Color(0.55, 0.85, 1.0) },
};

/**
 * Which look a material gets: 'uptake' | 'uptake-shell' (a tracer-coloured envelope) |
 * 'shell' | 'organ' | null (leave it as it is).
 */
export function lookKind(material, original = material) {
  if (!material) return null;
  const envelope = original.transparent && original.opacity < 1;
  if (material.isMeshBasicMaterial && material.vertexColors) return envelope ? 'uptake-shell' : 'uptake';
  if (material.isMeshStandardMaterial) return envelope ? 'shell' : 'organ';
  return null;
}

const VERTEX_VARYINGS = 'varying vec3 arkitNormal;\nvarying vec3 arkitView;\n';

const SHELL_ALPHA = '    diffuseColor.a *= mix(arkitShellCore, 1.0, pow(e, 1.5));';
const FRAGMENT = {
  uptake: `
  {
    float ndv = clamp(abs(dot(normalize(arkitNormal), normalize(arkitView))), 0.0, 1.0);
    float e = 1.0 - ndv;
    outgoingLight = outgoingLight * (1.0 - arkitShade * e * e) + outgoingLight * (arkitGlow * e * e * e);
  }`,
  organ: `
  {
    float ndv = clamp(dot(normal, normalize(vViewPosition)), 0.0, 1.0);
    float e = 1.0 - ndv;
    outgoingLight += diffuseColor.rgb * (arkitRim * e * e * e);
  }`,
  shell: `
  {
    float ndv = clamp(dot(normal, normalize(vViewPosition)), 0.0, 1.0);
    float e = 1.0 - ndv;
    outgoingLight = mix(outgoingLight, arkitShellTint, 0.35 * e);
${SHELL_ALPHA}
  }`,
};
FRAGMENT['uptake-shell'] = FRAGMENT.uptake.replace(/\n  }$/, `\n${SHELL_ALPHA}\n  }`);

function patch(kind) {
  return (shader) => {
    Object.assign(shader.uniforms, uniforms);
    const declare = 'uniform float arkitLift;\nuniform float arkitShade;\nuniform float arkitGlow;\n' +
      'uniform float arkitRim;\nuniform float arkitShellCore;\nuniform vec3 arkitShellTint;\n';
    let fragment = shader.fragmentShader;
    if (kind.startsWith('uptake')) {
      // MeshBasicMaterial has no normal or view vector in its fragment shader: pass them.
      shader.vertexShader = VERTEX_VARYINGS + shader.vertexShader.replace('#include <project_vertex>',
        '#include <project_vertex>\n  arkitNormal = normalize(normalMatrix * normal);\n  arkitView = -mvPosition.xyz;');
      fragment = VERTEX_VARYINGS + fragment;
    }
    fragment = declare + fragment.replace('#include <opaque_fragment>',
      `${FRAGMENT[kind]}\n  outgoingLight = arkitLift + (1.0 - arkitLift) * outgoingLight;\n#include <opaque_fragment>`);
    shader.fragmentShader = fragment;
  };
}

/**
 * Gives ``material`` the hologram look (in place; ``original``: the file's own settings,
 * for a material whose transparency a step may change). Returns the kind applied or null.
 */
export function applyLook(material, original = material) {
  const kind = lookKind(material, original);
  if (!kind) return null;
  material.onBeforeCompile = patch(kind);
  material.customProgramCacheKey = () => `arkit-look-${kind}`;
  material.userData.arkitLook = kind;
  material.needsUpdate = true;
  return kind;
}

/** Gives every mesh under ``root`` the look; returns the count of each kind. */
export function applyLookTo(root) {
  const counts = { uptake: 0, 'uptake-shell': 0, organ: 0, shell: 0 };
  root.traverse((o) => {
    if (!o.isMesh) return;
    for (const m of Array.isArray(o.material) ? o.material : [o.material]) {
      const kind = applyLook(m, m.userData.original || m);
      if (kind) counts[kind] += 1;
    }
  });
  return counts;
}

/** Lifts every patched colour for a display that shows black as transparent, or not. */
export function setAdditive(on) {
  uniforms.arkitLift.value = on ? ADDITIVE_LIFT : 0;
}

/** The look's settings now (tests, the info hook). */
export function lookState() {
  return { lift: uniforms.arkitLift.value, shade: uniforms.arkitShade.value, glow: uniforms.arkitGlow.value };
}
