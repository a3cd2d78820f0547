/** A signer's position at a school, as the staff registry records it. */
export type SignerTitle = 'homeroom_teacher' | 'subject_teacher' | 'principal' | 'vice_principal' | 'clerk';

/** Titles as written above a signature on Vietnamese school documents (Decree 30/2020 layout). */
export const TITLE_VI: Record<SignerTitle, string> = {
  homeroom_teacher: 'GIÁO VIÊN CHỦ NHIỆM',
  principal: 'HIỆU TRƯỞNG',
  vice_principal: 'PHÓ HIỆU TRƯỞNG',
  subject_teacher: 'GIÁO VIÊN BỘ MÔN',
  clerk: 'VĂN THƯ',
};
